package htmltest

import "fmt"

// FirstDifference names the first place where two lists of elements (one line an element, as a
// test writes a page's structure out) part: the index with the wanted line and the line got, an
// empty line standing for the end of the shorter list; "(same)" when the lists are equal. It is
// for failure messages that would otherwise print two whole pages to compare by eye.
func FirstDifference(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("element %d: want %s\nelement %d: got  %s", i, w, i, g)
		}
	}
	return "(same)"
}
