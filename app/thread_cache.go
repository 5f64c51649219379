package app

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/bytebufferpool"

	"securemessages/views"
)

// cacheTTL is how long a rendered conversation or thread is kept: long enough for a dashboard's live
// refreshes and a patient's visit, short enough that message subjects do not stay in the
// process's memory after the page that showed them is gone.
const cacheTTL = 10 * time.Minute

// threadCache keeps the HTML of message threads rendered recently, so that an inbox shown again
// renders only what changed. Most inbox renders repeat the last one almost whole: every live
// event makes each open page fetch its inbox again, and one conversation of the twenty changed.
// The messages are where html/template spends its time (every value it writes goes through an
// escaper called by reflection), and they are a page's bulk.
//
// A thread's HTML with no panel open is a pure function of its []*MessageNode (partials/thread
// reads nothing else: no CSRF token, no list state besides the links the nodes carry), so the
// key is a digest of the nodes themselves, every field included: whatever changes the HTML
// changes the key, and a change never waits for an invalidation. Two viewers with identical nodes would get identical
// HTML, so sharing an entry between them shows neither anything of the other's. A thread with a
// panel open (a Slot) is rendered fresh and not kept.

type threadCache struct {
	tmpl *template.Template                               // partials/thread
	lru  *expirable.LRU[[sha256.Size]byte, template.HTML] // nil when the cache is off
}

// newThreadCache keeps up to entries threads; 0 keeps none. The template is given later
// (setEngine): the template functions, this one among them, must exist before the templates load.
func newThreadCache(entries int) *threadCache {
	t := &threadCache{}
	if entries > 0 {
		t.lru = expirable.NewLRU[[sha256.Size]byte, template.HTML](entries, nil, cacheTTL)
	}
	return t
}

// setViews takes partials/thread and partials/state-form from the loaded templates, looked up
// once rather than on every call.
func (t *threadCache) setViews(s *views.Set) error {
	if t.tmpl = s.Lookup("partials/thread"); t.tmpl == nil {
		return errors.New("views: partials/thread is missing")
	}
	return nil
}

// HTML is partials/thread rendered for msgs: the template function "thread".
func (t *threadCache) HTML(msgs []*MessageNode) (template.HTML, error) {
	if t.lru == nil || anySlot(msgs) {
		return t.render(msgs)
	}
	key := threadKey(msgs)
	if h, ok := t.lru.Get(key); ok {
		return h, nil
	}
	h, err := t.render(msgs)
	if err != nil {
		return "", err
	}
	t.lru.Add(key, h)
	return h, nil
}

// render runs partials/thread.
func (t *threadCache) render(msgs []*MessageNode) (template.HTML, error) {
	h, err := execute(t.tmpl, msgs)
	if err != nil {
		return "", fmt.Errorf("render thread: %w", err)
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

// fragments are the buffers threads and forms are rendered into: a pool of their own, which
// bytebufferpool sizes for them, apart from the pages' buffers and the keys'.
var fragments bytebufferpool.Pool

// threadKey digests every field of the nodes but Slot (never kept) and Inbox (which
// partials/thread does not read). The fields are written one by one, each string after its
// length and each list of replies after its count, so no two different threads write the same
// bytes. encoding/json did the same through reflection at about 2.5 times the cost (10% of the
// server's CPU on a cached page; make bench -profile). TestThreadKeyCoversEveryField fails for a
// field left out here.
func threadKey(msgs []*MessageNode) [sha256.Size]byte {
	b := bytebufferpool.Get()
	defer bytebufferpool.Put(b)
	b.B = appendNodes(b.B[:0], msgs)
	return sha256.Sum256(b.B)
}

func appendNodes(b []byte, msgs []*MessageNode) []byte {
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		b = appendString(b, m.ID)
		b = appendString(b, m.ConversationID)
		b = appendString(b, m.Subject)
		b = appendString(b, m.Sent.Machine)
		b = appendString(b, m.Sent.Shown)
		b = appendBools(b, m.Flag.Mine, m.Actions.ShowDetails, m.Actions.FollowUp, m.Actions.Reply,
			m.Actions.Archive, m.Actions.Reopen, m.Actions.Cancel)
		b = appendString(b, m.Flag.Text)
		b = appendString(b, m.Flag.Label)
		b = appendString(b, m.Flag.Who)
		b = appendString(b, m.Links.Details)
		b = appendString(b, m.Links.Reply)
		b = appendString(b, m.Links.Cancel)
		b = appendString(b, m.Links.State)
		b = appendNodes(b, m.Replies)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendBools writes up to eight flags as the bits of one byte.
func appendBools(b []byte, flags ...bool) []byte {
	var bits byte
	for i, f := range flags {
		if f {
			bits |= 1 << i
		}
	}
	return append(b, bits)
}

func anySlot(msgs []*MessageNode) bool {
	for _, m := range msgs {
		if m.Slot != nil || anySlot(m.Replies) {
			return true
		}
	}
	return false
}
