package mem

import (
	"cmp"
	"context"
	"hash/fnv"
	"slices"
	"time"

	"github.com/acme/provider-credentials/shared/refresh"
)

var _ refresh.Cursors = (*Store)(nil)

type cursor struct {
	pos       string
	owner     string
	leaseTill time.Time
	leased    bool
}

// AcquireCursor takes segment's lease for owner until until (free when it
// ended before now) and returns the saved position; refresh.ErrLeaseHeld
// while another run holds it. Positions are kept per number of segments.
func (s *Store) AcquireCursor(_ context.Context, segment, total int, owner string, now, until time.Time) (string, error) {
	var pos string
	err := s.Faults.do("Store.AcquireCursor", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := [2]int{segment, total}
		cur := s.cursors[k]
		if cur.leased && !cur.leaseTill.Before(now) {
			return refresh.ErrLeaseHeld
		}
		cur.owner, cur.leaseTill, cur.leased = owner, until, true
		s.cursors[k] = cur
		pos = cur.pos
		return nil
	})
	if err != nil {
		return "", err
	}
	return pos, nil
}

// SaveCursor stores the position and gives back owner's lease;
// refresh.ErrLeaseLost when owner no longer holds it.
func (s *Store) SaveCursor(_ context.Context, segment, total int, owner, pos, _ string) error {
	return s.Faults.do("Store.SaveCursor", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := [2]int{segment, total}
		cur := s.cursors[k]
		if !cur.leased || cur.owner != owner {
			return refresh.ErrLeaseLost
		}
		s.cursors[k] = cursor{pos: pos}
		return nil
	})
}

// Source is the refresh's Source over a Store: its credentials and
// uniqueness guards (which are not credentials) in a fixed order, each
// in one segment by a hash of its key, PageSize (default 100) a page.
type Source struct {
	Store    *Store
	PageSize int
}

var _ refresh.Source = Source{}

// Page reads one page of seg after position after ("" = the start).
func (src Source) Page(_ context.Context, seg refresh.Segment, after string) (refresh.ScanPage, error) {
	s, size := src.Store, src.PageSize
	if size <= 0 {
		size = 100
	}
	var page refresh.ScanPage
	err := s.Faults.do("Store.Scan", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		type entry struct {
			pos string
			it  *item
		}
		var all []entry
		for k, it := range s.creds {
			all = append(all, entry{pos: k.org + "\x00CRED#" + k.id, it: it})
		}
		for g := range s.guards {
			all = append(all, entry{pos: g.org + "\x00UNIQ#" + g.provider + "#" + g.account})
		}
		slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
		for _, e := range all {
			if e.pos <= after || segmentOf(e.pos, seg.Total) != seg.Index {
				continue
			}
			if len(page.Items) == size {
				page.Next = page.Items[len(page.Items)-1].Pos
				return nil
			}
			it := refresh.ScanItem{Pos: e.pos}
			if e.it != nil {
				c := e.it.c
				it.Credential = &c
			}
			page.Items = append(page.Items, it)
		}
		return nil
	})
	if err != nil {
		return refresh.ScanPage{}, err
	}
	return page, nil
}

func segmentOf(pos string, total int) int {
	if total <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(pos))
	return int(h.Sum32() % uint32(total))
}
