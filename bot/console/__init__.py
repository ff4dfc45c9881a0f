"""The staff console web app (Sanic): pages for staff, and the Open311 API."""
