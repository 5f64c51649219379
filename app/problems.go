package app

import (
	"slices"
	"sort"
)

// Problems are what a refused form says, keyed by the field each is about; "form" is about the
// form as a whole (an expired form, the send limit, an action that no longer applies).
type Problems map[string]string

// ProblemLink is one line of a form's error summary: the problem, and the id of the field it is
// about, which the summary links to ("" for a problem about the whole form, which has no field).
type ProblemLink struct {
	Text    string
	FieldID string
}

// fieldOrder is the order of the fields on the forms (compose, reply, sign-in security), so that
// the summary reads in the order the form does; the form's own problem comes first.
var fieldOrder = []string{"form", "full_name", "email", "role", "date_of_birth", "file", "patient", "subject", "body", "staff",
	"method", "consent", "password", "code", "initials", "staff_role", "current_password", "new_password", "confirm"}

// Summary lists the problems for the summary at the top of the form (GOV.UK's error summary):
// each links to its field, whose id is the field's name followed by idSuffix (the reply form's
// ids end in its message's id), and the field shows the problem again under it.
func (p Problems) Summary(idSuffix string) []ProblemLink {
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	rank := func(name string) int {
		if i := slices.Index(fieldOrder, name); i >= 0 {
			return i
		}
		return len(fieldOrder)
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	links := make([]ProblemLink, 0, len(names))
	for _, name := range names {
		l := ProblemLink{Text: p[name]}
		if name != "form" {
			l.FieldID = name + idSuffix
		}
		links = append(links, l)
	}
	return links
}
