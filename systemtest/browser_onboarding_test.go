package systemtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserOnboarding walks the administrator's invitations and patient import pages, with
// JavaScript and without: a refused invitation keeps what was typed and says why, a sent one is
// listed and can be revoked, and a CSV's preview names its bad row before the good ones are
// imported. axe checks each state where scripts run.
func TestBrowserOnboarding(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "patients.csv")
	if err := os.WriteFile(csv, []byte("name,email,date_of_birth\nAna Reyes,ana.reyes@example.com,1985-02-03\n"+
		"Ben Ode,not-an-address,1990-12-31\nCy Twombly,cy.twombly@example.com,1970-07-07\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, noJS := range []bool{false, true} {
		name := "with JavaScript"
		if noJS {
			name = "without JavaScript"
		}
		t.Run(name, func(t *testing.T) {
			dev := desktop
			dev.noScript = noJS
			in := newSystem(t).start(t)
			admin := openPage(t, "administrator", in.URL, dev)
			flow(t, admin)
			admin.signIn(t, "admin@riverside.example")
			admin.click(t, xControl("", "Invitations"))
			admin.waitFor(t, "the invitations page", exists(`//h2[normalize-space()='Invitations']`)+` && document.readyState === 'complete'`, swapWait)
			admin.mark(t)
			admin.axeWithScript(t, "invitations")

			const form = `//section[@id='invitations']`
			admin.typeInto(t, form, "Name", "Nina Park")
			admin.typeInto(t, form, "E-mail address", "nina.park@example.com")
			admin.typeInto(t, form, "Date of birth (patients only)", "1980-01-01")
			admin.run(t, "choose nurse", chromedp.SetValue(xField(form, "Role"), "nurse", chromedp.BySearch))
			admin.click(t, xControl(form, "Send Invitation"))
			admin.after(t, "the invitation refused", exists(form+`//*[@role='alert' and contains(., 'patients only')]`))
			if got := admin.fieldValue(t, form, "Name"); got != "Nina Park" {
				t.Errorf("the refused form's name holds %q, want what was typed", got)
			}
			admin.axeWithScript(t, "invitations, a refused invitation")
			admin.replaceField(t, form, "Date of birth (patients only)", "")
			admin.click(t, xControl(form, "Send Invitation"))
			admin.after(t, "the invitation sent", exists(form+`//td[normalize-space()='nina.park@example.com']`))
			admin.axeWithScript(t, "invitations, one pending")
			admin.click(t, `//button[@aria-label='Revoke the invitation to nina.park@example.com']`)
			admin.after(t, "the invitation revoked", exists(form+`//*[@role='status' and contains(., 'revoked')]`))

			admin.click(t, xControl("", "Import patients from a CSV file"))
			admin.waitFor(t, "the import page", exists(`//h2[normalize-space()='Import patients']`)+` && document.readyState === 'complete'`, swapWait)
			admin.mark(t)
			admin.axeWithScript(t, "import")
			const imp = `//section[@id='import']`
			admin.run(t, "choose the file", chromedp.SetUploadFiles(xField(imp, "CSV file"), []string{csv}, chromedp.BySearch))
			admin.click(t, xControl(imp, "Upload and Check"))
			admin.after(t, "the preview", exists(imp+`//td[contains(., 'The e-mail address is not valid.')]`))
			admin.axeWithScript(t, "import, the preview")
			admin.click(t, xControl(imp, "Import and Invite 2"))
			admin.after(t, "imported", exists(imp+`//*[@role='status' and contains(., '2 patients were invited')]`))
			admin.axeWithScript(t, "import, done")
		})
	}
}
