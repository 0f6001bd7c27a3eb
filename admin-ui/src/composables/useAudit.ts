import { ref } from 'vue'
import { api, problemText } from '../api/client'
import type { AuditAction, AuditEntry, AuditQuery } from '../api/types'

// Exhaustive over the document's enum: a new action fails the type check until it has a label.
const actions: Record<AuditAction, true> = { unbind: true, set_rule: true, ban: true, unban: true, settings: true }

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
