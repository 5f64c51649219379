package app

import (
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"securemessages/store"
	"securemessages/views"
)

// conversationCache keeps each conversation of a list as its viewer last saw it: the <li> that
// partials/conversation wrote. A list shown again (every live event makes each open page fetch
// its inbox) then builds, digests and renders nothing of the conversations that did not change:
// it finds them by their key and writes them out.
//
// What partials/conversation writes is a function of the conversation, which its revision names
// (the database changes it with anything a list shows: store.Conversation.Revision), of who looks
// (their own messages are flagged "Me", and store.Allowed gives each viewer their actions), of the
// list's query (every link keeps it), and of the day (a date shows as a time today, as a day this
// year, a full date before). The key holds all of them, so a change never waits for an
// invalidation, and no viewer is ever shown an entry made for another. The CSRF token, masked anew
// for every page, is the one other value: the entry is kept cut where it goes (cut), and each page
// writes its own token in. A list with a message's panel open is rendered fresh and not kept.
type conversationCache struct {
	tmpl *template.Template                        // partials/conversation
	lru  *expirable.LRU[conversationKey, []string] // nil when the cache is off
}

// conversationKey is everything partials/conversation's output depends on but the CSRF token.
type conversationKey struct {
	id, revision int64
	viewer       store.Viewer
	query        string
	day          string // the day dates are shown against, in the server's time zone
}

// standIns stand for the CSRF token when a conversation is rendered to be kept. They are as long
// as each other and differ in every letter, and html/template writes them as they are, so two
// renders differ exactly where the token goes (cut). One stand-in alone would not do: a subject
// or a name can hold the very same letters.
var standIns = [2]string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}

func newConversationCache(entries int) *conversationCache {
	c := &conversationCache{}
	if entries > 0 {
		c.lru = expirable.NewLRU[conversationKey, []string](entries, nil, threadCacheTTL)
	}
	return c
}

// setViews takes partials/conversation from the loaded templates.
func (c *conversationCache) setViews(s *views.Set) error {
	if c.tmpl = s.Lookup("partials/conversation"); c.tmpl == nil {
		return errors.New("views: partials/conversation is missing")
	}
	return nil
}

// key names what cv will show its viewer on a list with query q on the day of now.
func (c *conversationCache) key(conv *store.Conversation, v store.Viewer, q string, now time.Time) conversationKey {
	return conversationKey{id: conv.ID, revision: conv.Revision, viewer: v, query: q, day: now.Local().Format(time.DateOnly)}
}

// get is the kept conversation of key, cut where the CSRF token goes.
func (c *conversationCache) get(key conversationKey) ([]string, bool) {
	if c.lru == nil {
		return nil, false
	}
	return c.lru.Get(key)
}

// HTML is partials/conversation for cv: the template function "conversation". A conversation
// found kept (cv.kept) is written out with the page's token; any other is rendered, and kept
// under cv.key when it has one.
func (c *conversationCache) HTML(cv *ConversationView) (template.HTML, error) {
	parts := cv.kept
	if parts == nil {
		if c.lru == nil || cv.key == nil {
			return c.render(cv, cv.Inbox.CSRFToken)
		}
		var err error
		if parts, err = c.cut(cv); err != nil {
			return "", err
		}
		c.lru.Add(*cv.key, parts)
	}
	return template.HTML(strings.Join(parts, template.HTMLEscapeString(cv.Inbox.CSRFToken))), nil
}

// cut renders cv twice, with each stand-in for the CSRF token, and cuts the output where the two
// differ: there, and only there, a page's token goes.
func (c *conversationCache) cut(cv *ConversationView) ([]string, error) {
	a, err := c.render(cv, standIns[0])
	if err != nil {
		return nil, err
	}
	b, err := c.render(cv, standIns[1])
	if err != nil {
		return nil, err
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("render conversation %s: the CSRF token's stand-ins changed its length", cv.ID)
	}
	var parts []string
	start, n := 0, len(standIns[0])
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			continue
		}
		if !strings.HasPrefix(string(a[i:]), standIns[0]) || !strings.HasPrefix(string(b[i:]), standIns[1]) {
			return nil, fmt.Errorf("render conversation %s: the CSRF token's stand-ins were not written as they are", cv.ID)
		}
		parts = append(parts, string(a[start:i]))
		start = i + n
		i = start - 1
	}
	return append(parts, string(a[start:])), nil
}

// render runs partials/conversation for cv with token as the page's CSRF token.
func (c *conversationCache) render(cv *ConversationView, token string) (template.HTML, error) {
	in := *cv.Inbox
	in.CSRFToken = token
	view := *cv
	view.Inbox = &in
	h, err := execute(c.tmpl, &view)
	if err != nil {
		return "", fmt.Errorf("render conversation %s: %w", cv.ID, err)
	}
	return h, nil
}
