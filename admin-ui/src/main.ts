import { createApp, watch } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/dark/css-vars.css'
// ElMessage and ElMessageBox are imported by name in the pages, so the on-demand
// resolver never sees them: their styles are loaded here.
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import './styles.css'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { setAuthHooks } from './api/client'
import { useSessionStore } from './stores/session'
import { usePreferences } from './stores/preferences'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
app.use(router)

const prefs = usePreferences()
watch(
  () => prefs.locale,
  (l) => {
    i18n.global.locale.value = l
  },
  { immediate: true },
)

const session = useSessionStore()
setAuthHooks({
  token: () => session.token,
  onUnauthorized: () => {
    session.clear()
    const current = router.currentRoute.value
    if (current.name !== 'login') {
      void router.replace({ name: 'login', query: { redirect: current.fullPath, expired: '1' } })
    }
  },
})

app.mount('#app')
