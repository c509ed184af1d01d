from services.audit.cli import main

main()
