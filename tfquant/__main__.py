"""`python -m tfquant COMMAND [flags]` (see `tfquant.commands`)."""

from tfquant import commands

commands.main()
