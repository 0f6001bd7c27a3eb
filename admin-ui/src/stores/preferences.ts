import { defineStore } from 'pinia'
import { ref, watch } from 'vue'

/** Locale is a language the console speaks. */
export type Locale = 'en' | 'zh'
/** Theme is the console's colour scheme. */
export type Theme = 'light' | 'dark'

const LOCALE_KEY = 'sentinel.locale'
const THEME_KEY = 'sentinel.theme'

function initialLocale(): Locale {
  const saved = localStorage.getItem(LOCALE_KEY)
  if (saved === 'en' || saved === 'zh') return saved
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY)
  if (saved === 'light' || saved === 'dark') return saved
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

/** usePreferences holds the language and theme, remembered in localStorage (nothing secret lives there). */
export const usePreferences = defineStore('preferences', () => {
  const locale = ref<Locale>(initialLocale())
  const theme = ref<Theme>(initialTheme())

  watch(
    locale,
    (l) => {
      localStorage.setItem(LOCALE_KEY, l)
      document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en'
    },
    { immediate: true },
  )
  watch(
    theme,
    (t) => {
      localStorage.setItem(THEME_KEY, t)
      document.documentElement.classList.toggle('dark', t === 'dark')
    },
    { immediate: true },
  )

  function toggleTheme(): void {
    theme.value = theme.value === 'dark' ? 'light' : 'dark'
  }

  return { locale, theme, toggleTheme }
})
