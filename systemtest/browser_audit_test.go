package systemtest

import (
	"context"
	"testing"

	"securemessages/store"
)

// TestBrowserAuditReview walks the administrator's audit review, with JavaScript and without:
// from the header's link, a search by patient and action finds the physician's opening of
// Maria's message (with htmx the results swap in and the address follows the search), a bad date
// is refused with what was typed kept, and who opened Maria's messages lists the physician.
// Every state passes axe.
func TestBrowserAuditReview(t *testing.T) {
	for _, noJS := range []bool{false, true} {
		name := "with JavaScript"
		if noJS {
			name = "without JavaScript"
		}
		t.Run(name, func(t *testing.T) {
			dev := desktop
			dev.noScript = noJS
			sys := newSystem(t)
			in := sys.start(t)
			sent := sys.startConversation(t, maria, "Audit walk", "Only for the care team.")
			if _, err := sys.st.MessageDetails(context.Background(), sys.viewer(t, secPhysician), store.Origin{}, sent.MessageID); err != nil {
				t.Fatal(err)
			}
			admin := openPage(t, "administrator", in.URL, dev)
			flow(t, admin)
			admin.signIn(t, "admin@riverside.example")
			admin.click(t, xControl("", "Audit review"))
			admin.waitFor(t, "the audit review", exists(`//h2[normalize-space()='Audit review']`)+` && document.readyState === 'complete'`, swapWait)
			admin.mark(t)
			admin.axeWithScript(t, "audit review")

			const audit = `//section[@id='audit']`
			admin.choose(t, audit, "Patient", "Maria Lopez")
			admin.choose(t, audit, "Action", "Opened a message's details")
			admin.click(t, xControl(audit, "Search"))
			row := audit + `//table//tr[td[contains(., 'Dr. Amelia Chen')] and td[contains(., "Opened a message's details")]]`
			admin.after(t, "the physician's opening found", exists(row))
			// htmx pushes the address after its swap: wait for it, it need not be there already.
			admin.waitFor(t, "the address saying the search",
				`location.search.includes('patient=') && location.search.includes('action=message_read')`, swapWait)
			if admin.has(t, audit+`//*[contains(., 'Audit walk')]`) {
				t.Error("the review shows a message's subject")
			}
			admin.axeWithScript(t, "audit review, results")

			admin.replaceField(t, audit, "From", "2026-13-01")
			admin.click(t, xControl(audit, "Search"))
			admin.after(t, "the bad date refused", exists(audit+`//*[@role='alert' and contains(., 'Enter a date such as 2026-12-01.')]`))
			if got := admin.fieldValue(t, audit, "From"); got != "2026-13-01" {
				t.Errorf("the refused date field holds %q, want what was typed", got)
			}
			admin.axeWithScript(t, "audit review, a bad date")

			admin.replaceField(t, audit, "From", "")
			admin.click(t, xControl(audit, "Search"))
			admin.after(t, "the search again", exists(row))
			admin.click(t, xControl(audit, "Who opened this patient's messages"))
			admin.waitFor(t, "who opened Maria's messages", exists(`//h2[normalize-space()="Who opened Maria Lopez's messages"]`)+` && document.readyState === 'complete'`, swapWait)
			admin.expectText(t, `//section[@id='audit-patient']//table`, "Dr. Amelia Chen")
			admin.axeWithScript(t, "who opened a patient's messages")
		})
	}
}

// choose picks the option of a select, found by its label, whose text is option.
func (p *tab) choose(t *testing.T, scope, label, option string) {
	t.Helper()
	var ok bool
	p.js(t, `(() => { const s = $x(`+jsString(xField(scope, label))+`);
		const o = [...s.options].find(o => o.text === `+jsString(option)+`);
		if (!o) return false; s.value = o.value; return true })()`, &ok)
	if !ok {
		t.Fatalf("no option %q in %q", option, label)
	}
}
