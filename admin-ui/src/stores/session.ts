import { defineStore } from 'pinia'
import { computed, ref } from 'vue'

const TOKEN_KEY = 'sentinel.session'

interface Saved {
  token: string
  expiresAt: number
}

function load(): Saved | null {
  try {
    const raw = sessionStorage.getItem(TOKEN_KEY)
    if (!raw) return null
    const s = JSON.parse(raw) as Saved
    return typeof s.token === 'string' && typeof s.expiresAt === 'number' && s.expiresAt > Date.now() ? s : null
  } catch {
    return null
  }
}

/**
 * useSessionStore holds the admin session's bearer token. It lives in
 * sessionStorage (this tab only, gone when the tab closes), never localStorage.
 */
export const useSessionStore = defineStore('session', () => {
  const saved = ref<Saved | null>(load())
  const token = computed(() => (saved.value && saved.value.expiresAt > Date.now() ? saved.value.token : null))
  const expiresAt = computed(() => saved.value?.expiresAt ?? 0)

  function set(accessToken: string, expiresInSeconds: number): void {
    saved.value = { token: accessToken, expiresAt: Date.now() + expiresInSeconds * 1000 }
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(saved.value))
  }

  function clear(): void {
    saved.value = null
    sessionStorage.removeItem(TOKEN_KEY)
  }

  return { token, expiresAt, set, clear }
})
