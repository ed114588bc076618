SELECT name FROM attributes ORDER BY name
