import { ref } from 'vue'
import { api, fieldErrors, problemText } from '../api/client'
import type { Settings, SettingsUpdate, WebhookTestResult } from '../api/types'

/** useSettings reads and changes the live settings. */
export function useSettings() {
  const settings = ref<Settings | null>(null)
  const loading = ref(false)
  const error = ref('')

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

  /**
   * testWebhook posts a sample alert to url (not stored) or, when empty, to the
   * live webhook; the answer says whether the receiver took it.
   */
  async function testWebhook(url: string): Promise<{ ok: true; value: WebhookTestResult } | { ok: false; message: string }> {
    const res = await api.POST('/admin/api/settings/webhook/test', { body: url ? { url } : {} })
    if (res.data) return { ok: true, value: res.data }
    return { ok: false, message: problemText(res.error, `HTTP ${res.response.status}`) }
  }

  return { settings, loading, error, load, save, testWebhook }
}
