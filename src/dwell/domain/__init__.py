"""Pure domain logic: arrays in, arrays out. Imports nothing from the rest of the package."""
