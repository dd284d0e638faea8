//go:build !unix

package queue

import (
	"context"
	"errors"
)

var errSyncUnsupported = errors.New("directory sync unsupported")

var errNoLock = errors.New("queue: locking the queue needs flock, which this system lacks; use a Unix system")

// TryLock is unsupported here.
func (q *Queue) TryLock() (unlock func(), ok bool, err error) { return nil, false, errNoLock }

// Lock is unsupported here.
func (q *Queue) Lock(context.Context) (unlock func(), err error) { return nil, errNoLock }
