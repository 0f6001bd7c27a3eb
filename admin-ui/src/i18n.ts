import { createI18n } from 'vue-i18n'
import en from './locales/en'
import zh from './locales/zh'

/** MessageSchema is the shape every locale file has. */
export type MessageSchema = typeof en

/** i18n is the console's vue-i18n instance (Composition API mode). */
export const i18n = createI18n({
  legacy: false,
  locale: 'en',
  fallbackLocale: 'en',
  messages: { en, zh },
})
