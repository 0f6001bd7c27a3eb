import { ref } from 'vue'
import { api, fieldErrors, hasPath, postUntyped, problemText } from '../api/client'
import type { Settings, SettingsUpdate } from '../api/types'

/** WEBHOOK_TEST_PATH is the alerts issue's test-send route; the button shows only when the document has it. */
export const WEBHOOK_TEST_PATH = '/admin/api/settings/webhook/test'

/** useSettings reads and changes the live settings. */
export function useSettings() {
  const settings = ref<Settings | null>(null)
  const loading = ref(false)
  const error = ref('')
  const canTestWebhook = hasPath(WEBHOOK_TEST_PATH)

  async function load(): Promise<void> {
    loading.value = true
    const res = await api.GET('/admin/api/settings')
    loading.value = false
    if (res.data) {
      settings.value = res.data
      error.value = ''
    } else error.value = problemText(res.error, `HTTP ${res.response.status}`)
  }

  async function save(update: SettingsUpdate): Promise<{ ok: true } | { ok: false; message: string; fields: Record<string, string> }> {
    const res = await api.PUT('/admin/api/settings', { body: update })
    if (res.data) {
      settings.value = res.data
      return { ok: true }
    }
    return { ok: false, message: problemText(res.error, `HTTP ${res.response.status}`), fields: fieldErrors(res.error) }
  }

  async function testWebhook(): Promise<string | null> {
    const r = await postUntyped(WEBHOOK_TEST_PATH)
    return r.ok ? null : problemText(r.problem, 'failed')
  }

  return { settings, loading, error, canTestWebhook, load, save, testWebhook }
}
