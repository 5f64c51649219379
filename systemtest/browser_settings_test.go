package systemtest

import (
	"testing"
)

// TestBrowserPracticeSettings walks the administrator's settings page, with JavaScript and
// without: a refused fee keeps what was typed and says why, a saved fee and limits say so, and a
// patient's compose form then shows the new fee and length at once, and refuses the message over
// the new daily count.
func TestBrowserPracticeSettings(t *testing.T) {
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
			patient := openPage(t, "patient", in.URL, dev)
			flow(t, admin, patient)
			admin.signIn(t, "admin@riverside.example")
			admin.click(t, xControl("", "Practice settings"))
			admin.waitFor(t, "the settings page", exists(`//h2[normalize-space()='Practice settings']`)+` && document.readyState === 'complete'`, swapWait)
			admin.mark(t)
			admin.axeWithScript(t, "practice settings")

			const fee = `//section[@id='settings-fee']`
			admin.replaceField(t, fee, "Fee in dollars", "-5")
			admin.click(t, xControl(fee, "Save Fee"))
			admin.after(t, "the fee refused", exists(fee+`//*[@role='alert' and contains(., 'cannot be negative')]`))
			if got := admin.fieldValue(t, fee, "Fee in dollars"); got != "-5" {
				t.Errorf("the refused fee field holds %q, want what was typed", got)
			}
			admin.axeWithScript(t, "practice settings, a refused fee")
			admin.replaceField(t, fee, "Fee in dollars", "12.50")
			admin.click(t, xControl(fee, "Save Fee"))
			admin.after(t, "the fee saved", exists(fee+`//*[@role='status' and normalize-space()='Saved.']`))

			const limits = `//section[@id='settings-limits']`
			admin.replaceField(t, limits, "Longest message, in characters", "300")
			admin.replaceField(t, limits, "Messages per patient per day", "2")
			admin.click(t, xControl(limits, "Save Limits"))
			admin.after(t, "the limits saved", exists(limits+`//*[@role='status' and normalize-space()='Saved.']`))
			admin.axeWithScript(t, "practice settings, saved")

			patient.signIn(t, maria)
			for i, subject := range []string{"First of the day", "Second of the day", "Third of the day"} {
				patient.click(t, xControl("", "Compose Message"))
				patient.after(t, "the compose form", exists(xField(xCompose, "Subject")))
				consent := xField(xCompose, "I agree to be billed $12.50 for this message.")
				if !patient.has(t, consent) {
					t.Fatalf("the compose form does not ask consent to the new fee:\n%s", patient.text(t, xCompose))
				}
				var maxLength int
				patient.js(t, `$x(`+jsString(xField(xCompose, "Complaints / Questions / Symptoms"))+`).maxLength`, &maxLength)
				if maxLength != 300 {
					t.Errorf("the message field takes %d characters, want the practice's 300", maxLength)
				}
				patient.typeInto(t, xCompose, "Subject", subject)
				patient.typeInto(t, xCompose, "Complaints / Questions / Symptoms", "A short question.")
				patient.check(t, xCompose, "I agree to be billed $12.50 for this message.")
				patient.click(t, xControl(xCompose, "Send Message"))
				if i < 2 {
					patient.after(t, "the message sent", exists(xActions(subject, 1)))
					continue
				}
				patient.after(t, "the daily limit", exists(xCompose+`//*[@role='alert' and contains(., 'in the last day')]`))
				patient.axeWithScript(t, "compose, over the practice's daily limit")
			}
		})
	}
}

// replaceField empties a field found by its label and types text into it.
func (p *tab) replaceField(t *testing.T, scope, label, text string) {
	t.Helper()
	p.js(t, `$x(`+jsString(xField(scope, label))+`).value = ''`, nil)
	p.typeInto(t, scope, label, text)
}

// fieldValue is the value a field found by its label holds.
func (p *tab) fieldValue(t *testing.T, scope, label string) string {
	t.Helper()
	var v string
	p.js(t, `$x(`+jsString(xField(scope, label))+`).value`, &v)
	return v
}

// axeWithScript runs axe on the page where scripts run; axe is a script, so a page without
// JavaScript is checked by its JavaScript twin, which renders the same HTML.
func (p *tab) axeWithScript(t *testing.T, state string) {
	t.Helper()
	if !p.dev.noScript {
		p.axe(t, state)
	}
}
