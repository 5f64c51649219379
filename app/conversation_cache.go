package app

import (
	"errors"
	"fmt"
	"html/template"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/bytebufferpool"

	"securemessages/store"
	"securemessages/views"
)

// conversationHTML keeps each conversation of a list as its viewer last saw it: the <li> that
// partials/conversation wrote, whole. It is the app's one cache (the store keeps what lists read:
// store.KeepConversations). A list shown again (every live event makes each open page fetch its
// inbox, and one conversation of the twenty changed) then builds and renders nothing of the
// conversations that did not change: it finds them by their key and writes them out. Building
// and rendering the messages is where a page spends most of the server's time: every value
// html/template writes goes through an escaper called by reflection (docs/performance.md has the
// figures, and what each cache earns, from make bench).
//
// What partials/conversation writes is a function of the conversation, which its revision names
// (the database changes it with anything a list shows: store.Conversation.Revision), of who looks
// (their own messages are flagged "Me", and store.Allowed gives each viewer their actions), of the
// list's query (every link keeps it), and of the day in the practice's time zone (a date shows
// as a time today, as a day this year, with the year before; all in that zone). The key holds all of them, so a change never waits for an
// invalidation, and no viewer is ever shown an entry made for another. Nothing of the page is in
// it: the CSRF token is in the inbox's one form (partials/inbox), which the Archive and Re-Open
// buttons join. A list with a message's panel open is rendered fresh and not kept. Entries last
// store.CacheTTL at most, so that message subjects do not stay in the process's memory after the
// pages that showed them are gone.
type conversationHTML struct {
	tmpl *template.Template                     // partials/conversation
	lru  *expirable.LRU[htmlKey, template.HTML] // nil when the cache is off
}

// htmlKey is everything partials/conversation's output depends on.
type htmlKey struct {
	id, revision int64
	viewer       store.Viewer
	query        string
	day          string // the day dates are shown against, in zone
	zone         string // the time zone dates are shown in, the practice's (InboxView.now)
}

func newConversationHTML(entries int) *conversationHTML {
	c := &conversationHTML{}
	if entries > 0 {
		c.lru = expirable.NewLRU[htmlKey, template.HTML](entries, nil, store.CacheTTL)
	}
	return c
}

// setViews takes partials/conversation from the loaded templates.
func (c *conversationHTML) setViews(s *views.Set) error {
	if c.tmpl = s.Lookup("partials/conversation"); c.tmpl == nil {
		return errors.New("views: partials/conversation is missing")
	}
	return nil
}

// key names what conv will show its viewer v on a list with query q on the day of now, in now's
// time zone (the practice's: dates are shown in it).
func (c *conversationHTML) key(conv *store.Conversation, v store.Viewer, q string, now time.Time) htmlKey {
	return htmlKey{id: conv.ID, revision: conv.Revision, viewer: v, query: q,
		day: now.Format(time.DateOnly), zone: now.Location().String()}
}

// HTML is partials/conversation for the conversation key names: the kept <li> if there is one and
// keep allows it, else the view build makes, rendered (and kept when keep says so).
func (c *conversationHTML) HTML(key htmlKey, keep bool, build func() *ConversationView) (template.HTML, error) {
	keep = keep && c.lru != nil
	if keep {
		if h, ok := c.lru.Get(key); ok {
			return h, nil
		}
	}
	h, err := execute(c.tmpl, build())
	if err != nil {
		return "", fmt.Errorf("render conversation %d: %w", key.id, err)
	}
	if keep {
		c.lru.Add(key, h)
	}
	return h, nil
}

// execute runs tmpl on data. Its output is html/template's own, escaped for where it stands;
// handing it back as template.HTML only saves escaping it twice.
func execute(tmpl *template.Template, data any) (template.HTML, error) {
	b := fragments.Get()
	defer fragments.Put(b)
	if err := tmpl.Execute(b, data); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

// fragments are the buffers conversations are rendered into: a pool of their own, which
// bytebufferpool sizes for them, apart from the pages' buffers.
var fragments bytebufferpool.Pool
