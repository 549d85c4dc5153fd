from aichoreo.cli import main

raise SystemExit(main())
