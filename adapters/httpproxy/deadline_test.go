package httpproxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDecisionContext(t *testing.T) {
	t.Run("made in the request's room once", func(t *testing.T) {
		rc := newRequestContext(context.Background())
		first := newDecisionContext(rc, time.Now(), time.Hour)
		second := newDecisionContext(rc, time.Now(), time.Hour)
		defer first.release()
		defer second.release()
		if first != &rc.room.decision {
			t.Fatal("the first decision context is not the request's")
		}
		if second == first {
			t.Fatal("the request's room was given out twice")
		}
		if first.parent != rc || second.parent != rc {
			t.Fatal("parent lost")
		}
	})
	t.Run("ends at the deadline", func(t *testing.T) {
		c := newDecisionContext(context.Background(), time.Now(), 10*time.Millisecond)
		defer c.release()
		if _, ok := c.Deadline(); !ok {
			t.Fatal("no deadline")
		}
		<-c.Done()
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err %v", c.Err())
		}
	})
	t.Run("derived contexts end with it", func(t *testing.T) {
		c := newDecisionContext(context.Background(), time.Now(), 10*time.Millisecond)
		defer c.release()
		d, cancel := context.WithTimeout(c, time.Hour)
		defer cancel()
		<-d.Done()
		if !errors.Is(d.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err %v", d.Err())
		}
	})
	t.Run("follows its parent", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		c := newDecisionContext(parent, time.Now(), time.Hour)
		defer c.release()
		if c.Err() != nil {
			t.Fatalf("Err %v before anything happened", c.Err())
		}
		cancel()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("Err %v without a timer", c.Err())
		}
		<-c.Done()
	})
	t.Run("keeps the parent's earlier deadline", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pd, _ := parent.Deadline()
		c := newDecisionContext(parent, time.Now(), time.Hour)
		defer c.release()
		if d, _ := c.Deadline(); !d.Equal(pd) {
			t.Fatalf("deadline %v, want the parent's %v", d, pd)
		}
	})
	t.Run("release ends it", func(t *testing.T) {
		c := newDecisionContext(context.Background(), time.Now(), time.Hour)
		done := c.Done()
		c.release()
		<-done
		late := newDecisionContext(context.Background(), time.Now(), time.Hour)
		late.release()
		<-late.Done() // made after release: ended at once
		if late.Err() == nil {
			t.Fatal("no error after release")
		}
	})
}
