import { useRouter, useRoute } from 'vue-router'
import { api, problemText } from '../api/client'
import { useSessionStore } from '../stores/session'

/** LoginResult says how a login attempt went. */
export type LoginResult =
  | { ok: true }
  | { ok: false; reason: 'wrong' }
  | { ok: false; reason: 'locked'; retryAfterSeconds: number }
  | { ok: false; reason: 'other'; message: string }

/** retryAfterSeconds parses a Retry-After header (delta seconds or an HTTP date). */
export function retryAfterSeconds(value: string | null, now = Date.now()): number {
  if (!value) return 0
  const n = Number(value)
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n))
  const at = Date.parse(value)
  return Number.isNaN(at) ? 0 : Math.max(0, Math.ceil((at - now) / 1000))
}

/** useSession logs in and out and brings the user back to where they were. */
export function useSession() {
  const store = useSessionStore()
  const router = useRouter()
  const route = useRoute()

  async function login(password: string): Promise<LoginResult> {
    const { data, error, response } = await api.POST('/admin/api/login', { body: { password } })
    if (data) {
      store.set(data.access_token, data.expires_in)
      const redirect = typeof route.query.redirect === 'string' && route.query.redirect.startsWith('/') ? route.query.redirect : '/'
      await router.replace(redirect)
      return { ok: true }
    }
    if (response.status === 429) return { ok: false, reason: 'locked', retryAfterSeconds: retryAfterSeconds(response.headers.get('Retry-After')) }
    if (response.status === 401) return { ok: false, reason: 'wrong' }
    return { ok: false, reason: 'other', message: problemText(error, `HTTP ${response.status}`) }
  }

  async function logout(): Promise<void> {
    store.clear()
    await router.replace({ name: 'login' })
  }

  return { login, logout, store }
}
