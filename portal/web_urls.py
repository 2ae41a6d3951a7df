"""The browser shell's own pages (home)."""

urlpatterns: list = []
