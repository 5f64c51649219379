package systemtest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestScreenshots photographs the inbox, a message's details, the compose form and the staff
// dashboard, on a desktop and a phone. `make screenshots` sets SCREENSHOTS_DIR=docs/screenshots
// for the README; otherwise they go to a temporary folder, and the test still proves each screen
// renders and fits its width.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sizes := []struct {
		name string
		dev  device
	}{
		{"desktop", device{width: 1024, height: 720}},
		{"phone", device{width: 360, height: 720, mobile: true, touch: true}},
	}
	for _, size := range sizes {
		t.Run(size.name, func(t *testing.T) {
			in := newSystem(t).start(t)
			p := openPage(t, "patient", in.URL, size.dev)
			flow(t)
			p.signIn(t, maria)
			if !size.dev.touch {
				p.moveMouseAway(t)
			}
			p.shoot(t, dir, "inbox-"+size.name)

			p.click(t, xControl(xActions(subjRefill, 1), "Show Details"))
			p.after(t, "details", exists(xDetails(subjRefill)))
			p.js(t, `$x(`+jsString(xMessage(subjRefill, 1))+`).scrollIntoView()`, nil)
			if !size.dev.touch {
				p.hover(t, xRow(subjRefill, 1))
			}
			p.shoot(t, dir, "details-"+size.name)

			p.navigate(t, "/inbox")
			p.click(t, xControl("", "Compose Message"))
			p.after(t, "compose form", exists(xField(xCompose, "Subject")))
			p.typeInto(t, xCompose, "Subject", "Ankle still swollen after the sprain")
			p.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "It is still swollen two weeks on. Should I get an X-ray?")
			p.js(t, `scrollTo(0, 0)`, nil)
			p.shoot(t, dir, "compose-"+size.name)

			s := openPage(t, "staff", in.URL, size.dev)
			s.signIn(t, physician)
			if !size.dev.touch {
				s.moveMouseAway(t)
			}
			s.shoot(t, dir, "dashboard-"+size.name)
		})
	}
}

// shoot saves what the screen shows as a small PNG (see indexed), after
// checking the page fits the screen's width.
func (p *tab) shoot(t *testing.T, dir, name string) {
	t.Helper()
	p.expectNoOverflow(t, name)
	var raw []byte
	p.run(t, "screenshot "+name, chromedp.CaptureScreenshot(&raw))
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, indexed(img)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", file, out.Len())
}

// indexed redraws a screenshot with a palette of its 256 most frequent colours (flat UI colours
// and most of the text's anti-aliasing), each other colour mapped to its nearest: a PNG a third
// the size, with no visible difference at this scale.
func indexed(img image.Image) image.Image {
	b := img.Bounds()
	counts := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colours := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		colours = append(colours, c)
	}
	sort.Slice(colours, func(i, j int) bool {
		if counts[colours[i]] != counts[colours[j]] {
			return counts[colours[i]] > counts[colours[j]]
		}
		a, b := colours[i], colours[j]
		return uint32(a.R)<<16|uint32(a.G)<<8|uint32(a.B) < uint32(b.R)<<16|uint32(b.G)<<8|uint32(b.B)
	})
	if len(colours) > 256 {
		colours = colours[:256]
	}
	pal := make(color.Palette, len(colours))
	for i, c := range colours {
		c.A = 255
		pal[i] = c
	}
	out := image.NewPaletted(b, pal)
	index := map[color.RGBA]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	return out
}
