// Package memory holds in-memory implementations of Sentinel's ports, with
// the standard library only: a BindingStore for the domain's own tests and
// for embedding Sentinel where nothing needs to survive a restart. Their
// data lives and dies with the process, and is not shared with other
// processes.
package memory
