import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The server ships the built files inside its Python package.
const outDir = fileURLToPath(
  new URL("../packages/timerserver/src/timerserver/webui", import.meta.url),
);

export default defineConfig(({ command }) => ({
  // The server serves index.html at / and every other built file under /ui/.
  base: command === "build" ? "/ui/" : "/",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    // Every browser that runs ES2022 knows modulepreload: no polyfill needed.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": {
        target: process.env.TIMERUI_API ?? "http://127.0.0.1:8080",
        changeOrigin: false,
      },
    },
  },
}));
