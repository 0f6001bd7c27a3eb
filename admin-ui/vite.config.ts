import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import Components from 'unplugin-vue-components/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'

// The admin listener serves the console at /admin/ui/ and the API at /admin/api/;
// in dev and preview the API is proxied to a running sentinel (SENTINEL_ADMIN_URL).
const adminURL = process.env.SENTINEL_ADMIN_URL ?? 'http://127.0.0.1:7001'
const proxy = { '/admin/api': { target: adminURL, changeOrigin: false } }

export default defineConfig({
  base: '/admin/ui/',
  plugins: [
    vue(),
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'src/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'src/components.d.ts', dirs: [] }),
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 800,
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // The Vue runtime gets its own long-cached chunk; echarts stays inside the lazily loaded dashboard chunk.
        codeSplitting: {
          groups: [
            { name: 'vue', test: /node_modules[\\/](@vue|vue|vue-router|pinia|vue-i18n|@intlify)[\\/]/ },
          ],
        },
      },
    },
  },
  server: { proxy },
  preview: { proxy },
})
