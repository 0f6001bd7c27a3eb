package localcache

import (
	"context"

	sentinel "github.com/keyipsentinel/sentinel"
)

var _ sentinel.AuditedBindingDeleter = (*BindingStore)(nil)

// DeleteBindingAudited implements sentinel.AuditedBindingDeleter: the
// wrapped store deletes and audits in one transaction, and the key is
// forgotten here as DeleteBinding does. EINTERNAL when the wrapped store
// cannot audit deletions.
func (c *BindingStore) DeleteBindingAudited(ctx context.Context, key sentinel.KeyHash, version int64, audit sentinel.AuditEntry) (sentinel.Binding, error) {
	d, ok := c.inner.(sentinel.AuditedBindingDeleter)
	if !ok {
		return sentinel.Binding{}, sentinel.Errorf(sentinel.EINTERNAL, "localcache: the wrapped binding store cannot audit deletions")
	}
	b, err := d.DeleteBindingAudited(ctx, key, version, audit)
	c.Invalidate(key)
	return b, err
}
