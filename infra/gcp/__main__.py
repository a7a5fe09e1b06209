from infra.gcp.definitions import main

main()
