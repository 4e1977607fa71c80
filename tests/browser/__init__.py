"""Browser tests: the real server driven by headless Chromium through Playwright."""
