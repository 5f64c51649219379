package app

import "strings"

// deviceSummary names a browser and its system in a few words ("Firefox on Android") from a
// User-Agent header, for a person's list of their sessions. It looks for a handful of
// well-known tokens only: the list needs to be recognisable to its owner, not exact, and a
// user-agent parsing library's database of devices would be a dependency for one line of a page.
// The header itself is kept nowhere.
func deviceSummary(ua string) string {
	first := func(pairs [][2]string) string {
		for _, p := range pairs {
			if strings.Contains(ua, p[0]) {
				return p[1]
			}
		}
		return ""
	}
	// Order matters: Edge and Opera say Chrome too, Chrome says Safari, Android says Linux,
	// iOS says Mac OS X.
	browser := first([][2]string{{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}})
	system := first([][2]string{{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"}})
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return system
	}
	return ""
}
