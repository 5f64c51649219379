package store

import (
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// CacheTTL is how long any cache keeps an entry, here and in the app (its conversations' HTML):
// long enough for a dashboard's live refreshes and a patient's visit, short enough that message
// subjects do not stay in the process's memory after the pages that showed them are gone.
const CacheTTL = 10 * time.Minute

// listCache is the store's caches, both for lists: the conversations lists read recently,
// decrypted and built into trees, by id and revision, and the staff queue's counts
// (AwaitingCount). Most lists repeat the last one almost whole: every live event makes each open
// page fetch its list again, and one conversation of the twenty changed. A list reads the page's
// ids and revisions first, and then the messages only of the conversations not held at that
// revision (InboxPage); docs/performance.md has what each earns (make bench).
//
// The revision is the database's (00007_conversation_revision.sql, and the triggers on messages
// of 00011_conversation_revision_trigger.sql): whatever changes what a list shows of a
// conversation changes it, so an entry is never shown after a change and needs no invalidation.
// Which conversations a viewer may see is decided by the statement that lists the ids, scoped to
// the viewer; an entry holds nothing viewer-specific.
//
// The conversations are shared between the requests that list them: nothing may change one
// after InboxPage returns it.
type listCache struct {
	lru      *expirable.LRU[conversationKey, *Conversation] // nil when the cache is off
	awaiting *expirable.LRU[awaitingKey, int]               // likewise
}

type conversationKey struct {
	id, revision int64
	glance       bool // read with what the staff queue shows at a glance (fetchStaffSQL)
}

// KeepConversations makes the lists keep up to entries conversations, and as many counts of the
// staff queue (0 keeps none, the default). Call it before the store serves.
func (s *Store) KeepConversations(entries int) {
	s.lists.lru, s.lists.awaiting = nil, nil
	if entries > 0 {
		s.lists.lru = expirable.NewLRU[conversationKey, *Conversation](entries, nil, CacheTTL)
		s.lists.awaiting = expirable.NewLRU[awaitingKey, int](entries, nil, CacheTTL)
	}
}

// KeepCounts makes AwaitingCount keep up to entries counts (0 keeps none), in place of what
// KeepConversations set. Call it before the store serves.
func (s *Store) KeepCounts(entries int) {
	s.lists.awaiting = nil
	if entries > 0 {
		s.lists.awaiting = expirable.NewLRU[awaitingKey, int](entries, nil, CacheTTL)
	}
}

// awaitingKey names a count of the conversations awaiting a reply (AwaitingCount): whose queue,
// as of which of the practice's events.
type awaitingKey struct {
	practiceID, patientScope int64
	asOf                     int64
	newCount                 bool // NewCount's, not AwaitingCount's
}

func (c *listCache) get(k conversationKey) (*Conversation, bool) {
	if c.lru == nil {
		return nil, false
	}
	return c.lru.Get(k)
}

func (c *listCache) add(k conversationKey, conv *Conversation) {
	if c.lru != nil {
		c.lru.Add(k, conv)
	}
}
