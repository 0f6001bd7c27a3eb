import { ref } from 'vue'
import { api, fieldErrors, problemText, type Problem } from '../api/client'
import type { AuditEntry, Binding, BindingDetail, BindingQuery, Rule } from '../api/types'

/** ActionResult is the outcome of a change: ok, or the server's message and per-field messages. */
export type ActionResult<T = undefined> =
  | { ok: true; value: T }
  | { ok: false; message: string; fields: Record<string, string>; status: number }

function failed(error: Problem | undefined, res: Response): { ok: false; message: string; fields: Record<string, string>; status: number } {
  return { ok: false, message: problemText(error, `HTTP ${res.status}`), fields: fieldErrors(error), status: res.status }
}

/** useBindings lists bindings with server-side paging, sorting and filters, and changes them. */
export function useBindings() {
  const items = ref<Binding[]>([])
  const total = ref(0)
  const loading = ref(false)
  const error = ref('')

  async function load(query: BindingQuery): Promise<void> {
    loading.value = true
    error.value = ''
    const res = await api.GET('/admin/api/bindings', { params: { query } })
    loading.value = false
    if (res.data) {
      items.value = res.data.items ?? []
      total.value = res.data.total
    } else error.value = problemText(res.error, `HTTP ${res.response.status}`)
  }

  async function detail(id: string): Promise<ActionResult<BindingDetail>> {
    const res = await api.GET('/admin/api/bindings/{id}', { params: { path: { id } } })
    return res.data ? { ok: true, value: res.data } : failed(res.error, res.response)
  }

  /** lookup finds a key's binding; the key goes only in the POST body. */
  async function lookup(key: string): Promise<ActionResult<BindingDetail>> {
    const res = await api.POST('/admin/api/bindings/lookup', { body: { key } })
    return res.data ? { ok: true, value: res.data } : failed(res.error, res.response)
  }

  async function unbind(id: string): Promise<ActionResult> {
    const res = await api.POST('/admin/api/bindings/unbind', { body: { id } })
    return res.response.ok ? { ok: true, value: undefined } : failed(res.error, res.response)
  }

  async function ban(id: string): Promise<ActionResult> {
    const res = await api.POST('/admin/api/bindings/ban', { body: { id } })
    return res.response.ok ? { ok: true, value: undefined } : failed(res.error, res.response)
  }

  async function unban(id: string): Promise<ActionResult> {
    const res = await api.POST('/admin/api/bindings/unban', { body: { id } })
    return res.response.ok ? { ok: true, value: undefined } : failed(res.error, res.response)
  }

  async function updateRule(id: string, rule: Rule): Promise<ActionResult> {
    const res = await api.PUT('/admin/api/bindings/ip', { body: { id, rule } })
    return res.response.ok ? { ok: true, value: undefined } : failed(res.error, res.response)
  }

  /** restore moves an archived binding (by its archive_id) back into the active table. */
  async function restore(archiveId: number): Promise<ActionResult> {
    const res = await api.POST('/admin/api/bindings/restore', { body: { id: archiveId } })
    return res.response.ok ? { ok: true, value: undefined } : failed(res.error, res.response)
  }

  /** auditFor returns the recent audit entries that name a binding. */
  async function auditFor(id: string): Promise<AuditEntry[]> {
    const res = await api.GET('/admin/api/audit', { params: { query: { page: 1, page_size: 100 } } })
    return (res.data?.items ?? []).filter((e) => e.binding_id === id)
  }

  return { items, total, loading, error, load, detail, lookup, unbind, ban, unban, updateRule, restore, auditFor }
}
