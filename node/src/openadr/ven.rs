//! The site's VEN (placeholder; filled in below).
