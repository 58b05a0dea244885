package propagation

import (
	"context"
	"time"
)

// cover marks every published change up to logIndex as covered by the
// checkpoint at pub, and wakes their waiters.
func (p *Publisher) cover(logIndex uint64, pub Publication) {
	kept := p.pending[:0]
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.pending {
		if u.logIndex > logIndex {
			kept = append(kept, u)
			continue
		}
		p.publishedLocked(u.eventID, pub)
	}
	p.pending = kept
}

// published records where an event was published and wakes its waiter.
func (p *Publisher) published(eventID string, pub Publication) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.publishedLocked(eventID, pub)
}

func (p *Publisher) publishedLocked(eventID string, pub Publication) {
	p.covered[eventID] = pub
	if ch, ok := p.waiters[eventID]; ok {
		close(ch)
		delete(p.waiters, eventID)
	}
}

// Publication returns where a change was published, once a checkpoint
// covers it.
func (p *Publisher) Publication(eventID string) (Publication, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pub, ok := p.covered[eventID]
	return pub, ok
}

// WaitPublished blocks until the event is published (see Publication), or
// ctx ends.
func (p *Publisher) WaitPublished(ctx context.Context, eventID string) (Publication, error) {
	p.mu.Lock()
	if pub, ok := p.covered[eventID]; ok {
		delete(p.covered, eventID)
		p.mu.Unlock()
		return pub, nil
	}
	ch, ok := p.waiters[eventID]
	if !ok {
		ch = make(chan struct{})
		p.waiters[eventID] = ch
	}
	p.mu.Unlock()
	select {
	case <-ch:
		p.mu.Lock()
		pub := p.covered[eventID]
		delete(p.covered, eventID)
		p.mu.Unlock()
		return pub, nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.waiters, eventID)
		p.mu.Unlock()
		return Publication{}, ctx.Err()
	}
}

// prune forgets publications nobody waited for.
func (p *Publisher) prune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	cutoff := p.opts.Now().Add(-time.Minute)
	for id, pub := range p.covered {
		if pub.Acked.Before(cutoff) {
			delete(p.covered, id)
		}
	}
}
