"""Local stack: the embedded AWS emulator and the deployment of infra/ into it."""
