"""The stats dashboard: counts and series read through each domain's service, drawn as SVG."""
