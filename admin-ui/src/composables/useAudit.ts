import { ref } from 'vue'
import { api, problemText } from '../api/client'
import type { AuditAction, AuditEntry, AuditQuery } from '../api/types'

// Exhaustive over the document's enum: a new action fails the type check until it has a label.
const actions: Record<AuditAction, true> = { unbind: true, set_rule: true, ban: true, unban: true, settings: true, restore: true, webhook_test: true }

// The actions whose entry names a binding (settings and webhook tests name none).
const bindingActions = new Set<string>(['unbind', 'set_rule', 'ban', 'unban', 'restore'])

/** auditBindingId is the binding an entry changed, or '' for settings-level actions. */
export function auditBindingId(action: string, bindingId: string): string {
  return bindingActions.has(action) ? bindingId : ''
}

/** auditActionKey is the message key labelling an audit action, or null for one this build does not know. */
export function auditActionKey(action: string): string | null {
  return action in actions ? `auditActions.${action}` : null
}

/** useAudit lists the admin audit log. */
export function useAudit() {
  const items = ref<AuditEntry[]>([])
  const total = ref(0)
  const loading = ref(false)
  const error = ref('')

  async function load(query: AuditQuery): Promise<void> {
    loading.value = true
    const res = await api.GET('/admin/api/audit', { params: { query } })
    loading.value = false
    if (res.data) {
      error.value = ''
      items.value = res.data.items ?? []
      total.value = res.data.total
    } else error.value = problemText(res.error, `HTTP ${res.response.status}`)
  }

  return { items, total, loading, error, load }
}

/** AuditChange is one top-level field an audited change altered. */
export interface AuditChange {
  field: string
  before: string
  after: string
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '—'
  if (typeof v === 'string') return v
  // A rule reads as its kind and addresses ("single 10.0.0.0/24"), not as JSON.
  const r = fields(v)
  if (typeof r.kind === 'string') {
    const prefixes = Array.isArray(r.prefixes) ? r.prefixes.join(', ') : ''
    const limit = r.kind === 'learn' && typeof r.limit === 'number' ? ` ≤${r.limit}` : ''
    return [r.kind + limit, prefixes].filter(Boolean).join(' ')
  }
  return JSON.stringify(v)
}

function fields(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {}
}

/**
 * auditChanges lists the top-level fields that differ between an audit
 * entry's before and after (timestamps and versions that every change bumps left out).
 */
export function auditChanges(before: unknown, after: unknown): AuditChange[] {
  // An unbind has no after: the action says it all. An entry with no before
  // (a webhook test) shows what it recorded.
  if (after === null || after === undefined) return []
  const b = fields(before)
  const a = fields(after)
  const noise = new Set(['updated_at', 'version', 'last_used_at'])
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => !noise.has(k))
  return keys
    .map((field) => ({ field, before: show(b[field]), after: show(a[field]) }))
    .filter((c) => c.before !== c.after)
}
