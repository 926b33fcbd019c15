"""Partner API keys and scopes: the key format (``keys``), their SQL (``store``), and the guards
every route declares (``guards``)."""
