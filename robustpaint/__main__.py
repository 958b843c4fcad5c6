from robustpaint.cli import main

raise SystemExit(main())
