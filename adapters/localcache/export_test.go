package localcache

// Len returns the number of cached bindings.
func (c *BindingStore) Len() int { return c.len() }
