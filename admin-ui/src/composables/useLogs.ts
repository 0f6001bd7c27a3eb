import { ref } from 'vue'
import { api, filenameFrom, problemText, saveBlob } from '../api/client'
import type { ExportQuery, Intercept, LogQuery, Reason } from '../api/types'

// Exhaustive over the document's enum: a new reason fails the type check until it has a label.
const reasonSet: Record<Reason, true> = { ip_not_allowed: true, key_banned: true, multiple_keys: true, invalid_key: true, invalid_client_ip: true }

/** REASONS lists the refusal reasons the admin API documents. */
export const REASONS = Object.keys(reasonSet) as Reason[]

/** reasonOf narrows a string to a documented reason. */
export function reasonOf(v: string | undefined): Reason | undefined {
  return REASONS.find((r) => r === v)
}

/** reasonKey is the message key labelling a reason, or null for one this build does not know. */
export function reasonKey(v: string): string | null {
  return reasonOf(v) ? `reasons.${v}` : null
}

/** useLogs lists intercept logs and exports them as CSV with the same filters. */
export function useLogs() {
  const items = ref<Intercept[]>([])
  const total = ref(0)
  const loading = ref(false)
  const error = ref('')

  async function load(query: LogQuery, quiet = false): Promise<void> {
    if (!quiet) loading.value = true
    const res = await api.GET('/admin/api/logs', { params: { query } })
    loading.value = false
    if (res.data) {
      error.value = ''
      items.value = res.data.items ?? []
      total.value = res.data.total
    } else error.value = problemText(res.error, `HTTP ${res.response.status}`)
  }

  /** exportCSV downloads the streamed CSV with the bearer token and saves it as a file. */
  async function exportCSV(query: ExportQuery): Promise<string | null> {
    const res = await api.GET('/admin/api/logs/export', { params: { query }, parseAs: 'blob' })
    if (!res.response.ok || !res.data) return problemText(res.error, `HTTP ${res.response.status}`)
    saveBlob(res.data, filenameFrom(res.response, `intercepts-${new Date().toISOString().slice(0, 10)}.csv`))
    return null
  }

  return { items, total, loading, error, load, exportCSV }
}
