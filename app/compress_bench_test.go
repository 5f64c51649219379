package app

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkCompressInboxPage compresses the page of BenchmarkInboxRender as the server may:
// gzip at its fastest level, which compressPages uses, and brotli at its fastest level, which
// Fiber's compress middleware would have chosen for every browser. Each reports the bytes sent.
//
//	go test ./app -run '^$' -bench CompressInboxPage
func BenchmarkCompressInboxPage(b *testing.B) {
	engine, convs := testViews(b, 0)
	vd, err := benchInboxPage(convs)()
	if err != nil {
		b.Fatal(err)
	}
	var page bytes.Buffer
	if err := engine.Render(&page, "pages/inbox", vd); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		compress func(dst, src []byte) []byte
	}{
		{"gzip-fastest", func(dst, src []byte) []byte {
			return fasthttp.AppendGzipBytesLevel(dst, src, fasthttp.CompressBestSpeed)
		}},
		{"brotli-fastest", func(dst, src []byte) []byte {
			return fasthttp.AppendBrotliBytesLevel(dst, src, fasthttp.CompressBrotliBestSpeed)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var out []byte
			for b.Loop() {
				out = tc.compress(out[:0], page.Bytes())
			}
			b.ReportMetric(float64(len(out)), "bytes")
			b.ReportMetric(float64(page.Len()), "html-bytes")
		})
	}
}
