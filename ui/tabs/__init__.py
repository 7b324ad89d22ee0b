"""The studio's tabs, one module each: `build(page, store)` lays a tab out and wires it to `ui.handlers`."""
