package systemtest

import (
	"testing"
)

// TestBrowserPeople walks the administrator's people pages, with JavaScript and without: the
// list, a patient's page, a refused rename that keeps what was typed and says why, a saved one,
// and deactivating and reactivating him; the administrator's own page offers no Deactivate, as
// the practice's only administrator. Every state is checked with axe.
func TestBrowserPeople(t *testing.T) {
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
			admin.click(t, xControl("", "People"))
			admin.waitFor(t, "the people page", exists(`//h2[normalize-space()='People']`)+` && document.readyState === 'complete'`, swapWait)
			admin.axeWithScript(t, "people")
			if admin.has(t, xControl("", "Grace Kim")) {
				t.Error("another practice's patient is listed")
			}

			admin.click(t, xControl("", "Tom Becker"))
			admin.waitFor(t, "Tom's page", exists(`//h2[normalize-space()='Tom Becker']`)+` && document.readyState === 'complete'`, swapWait)
			admin.mark(t)
			admin.axeWithScript(t, "a patient's page")

			const person = `//section[@id='person']`
			admin.replaceField(t, person, "Initials", "T1")
			admin.click(t, xControl(person, "Save Name"))
			admin.after(t, "the initials refused", exists(person+`//*[@role='alert' and contains(., 'Enter 1 to 3 letters')]`))
			if got := admin.fieldValue(t, person, "Initials"); got != "T1" {
				t.Errorf("the refused initials field holds %q, want what was typed", got)
			}
			admin.axeWithScript(t, "a patient's page, a refused rename")
			admin.replaceField(t, person, "Display name", "Thomas Becker")
			admin.replaceField(t, person, "Initials", "TB")
			admin.click(t, xControl(person, "Save Name"))
			admin.after(t, "the name saved", exists(person+`//*[@role='status' and normalize-space()='The name was saved.']`))

			admin.click(t, xControl(person, "Deactivate Thomas Becker"))
			admin.after(t, "deactivated", exists(person+`//*[@role='status' and contains(., 'cannot sign in')]`))
			admin.axeWithScript(t, "a deactivated patient's page")
			admin.click(t, xControl(person, "Reactivate Thomas Becker"))
			admin.after(t, "reactivated", exists(person+`//*[@role='status' and contains(., 'can sign in again')]`))

			admin.click(t, xControl("", "All people"))
			admin.waitFor(t, "the people page again", exists(`//h2[normalize-space()='People']`)+` && document.readyState === 'complete'`, swapWait)
			admin.click(t, xControl("", "Alex Morgan"))
			admin.waitFor(t, "the administrator's own page", exists(`//h2[normalize-space()='Alex Morgan']`)+` && document.readyState === 'complete'`, swapWait)
			if admin.has(t, xControl("", "Deactivate Alex Morgan")) {
				t.Error("the only administrator is offered Deactivate")
			}
			admin.axeWithScript(t, "the administrator's own page")
		})
	}
}
