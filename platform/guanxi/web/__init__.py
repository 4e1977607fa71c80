"""Generated web screens (UI-01..12): Starlette routes rendering Jinja2 templates from the
theme, with htmx for partial updates. Every screen reads and writes through the record
service, so permissions are enforced below the screens, never only in them."""
