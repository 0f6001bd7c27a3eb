import { ref } from 'vue'
import { api, problemText } from '../api/client'
import type { Dashboard, DashboardDays } from '../api/types'

/** useDashboard loads the dashboard summary for the last 7 or 30 days. */
export function useDashboard() {
  const data = ref<Dashboard | null>(null)
  const loading = ref(false)
  const error = ref('')

  async function load(days: DashboardDays): Promise<void> {
    loading.value = true
    error.value = ''
    const res = await api.GET('/admin/api/dashboard', { params: { query: { days } } })
    loading.value = false
    if (res.data) data.value = res.data
    else error.value = problemText(res.error, `HTTP ${res.response.status}`)
  }

  return { data, loading, error, load }
}
