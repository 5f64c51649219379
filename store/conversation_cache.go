package store

import (
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// conversationCacheTTL is how long a conversation read for a list is kept: as long as the thread
// HTML made from it (app/thread_cache.go), and for the same reason: message subjects do not stay
// in the process's memory after the page that showed them is gone.
const conversationCacheTTL = 10 * time.Minute

// conversationCache keeps the conversations lists read recently, decrypted and built into
// trees, by id and revision. Most lists repeat the last one almost whole: every live event makes
// each open page fetch its list again, and one conversation of the twenty changed. A list reads
// the page's ids and revisions first, and then the messages only of the conversations not held
// at that revision (InboxPage).
//
// The revision is the database's (00007_conversation_revision.sql): whatever changes what a list
// shows of a conversation changes it, so an entry is never shown after a change and needs no
// invalidation. Which conversations a viewer may see is decided by the statement that lists the
// ids, scoped to the viewer; an entry holds nothing viewer-specific.
//
// The conversations are shared between the requests that list them: nothing may change one
// after InboxPage returns it.
type conversationCache struct {
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
	s.convs.lru, s.convs.awaiting = nil, nil
	if entries > 0 {
		s.convs.lru = expirable.NewLRU[conversationKey, *Conversation](entries, nil, conversationCacheTTL)
		s.convs.awaiting = expirable.NewLRU[awaitingKey, int](entries, nil, conversationCacheTTL)
	}
}

// KeepCounts makes AwaitingCount keep up to entries counts (0 keeps none), in place of what
// KeepConversations set. Call it before the store serves.
func (s *Store) KeepCounts(entries int) {
	s.convs.awaiting = nil
	if entries > 0 {
		s.convs.awaiting = expirable.NewLRU[awaitingKey, int](entries, nil, conversationCacheTTL)
	}
}

// awaitingKey names a count of the conversations awaiting a reply (AwaitingCount): whose queue,
// as of which of the practice's events.
type awaitingKey struct {
	practiceID, patientScope int64
	asOf                     int64
}

func (c *conversationCache) get(k conversationKey) (*Conversation, bool) {
	if c.lru == nil {
		return nil, false
	}
	return c.lru.Get(k)
}

func (c *conversationCache) add(k conversationKey, conv *Conversation) {
	if c.lru != nil {
		c.lru.Add(k, conv)
	}
}
