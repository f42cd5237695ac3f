// Tailwind v3. Build with `make css` (or `npm run build:css`); the output,
// static/css/app.css, is committed so that running the portal never needs Node.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const defaultTheme = require("tailwindcss/defaultTheme");
const colors = require("tailwindcss/colors");

// crispy-tailwind renders our forms with class names that live in its own templates
// (and the default input classes in its tailwind.py), inside the installed Python
// package. Ask the project's Python where the package is; also glob the usual venv
// layout, so the build works whichever of the two finds it.
function crispyTailwindSources() {
  const globs = [
    ".venv/lib/python*/site-packages/crispy_tailwind/templates/**/*.html",
    ".venv/lib/python*/site-packages/crispy_tailwind/**/*.py",
  ];
  const pythons = [process.env.PYTHON, ".venv/bin/python", "python3"].filter(Boolean);
  for (const python of pythons) {
    try {
      const dir = execFileSync(
        python,
        ["-c", "import crispy_tailwind, os; print(os.path.dirname(crispy_tailwind.__file__))"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
      ).trim();
      if (dir && fs.existsSync(path.join(dir, "templates"))) {
        const posix = dir.split(path.sep).join("/");
        globs.unshift(`${posix}/templates/**/*.html`, `${posix}/**/*.py`);
        break;
      }
    } catch {
      // This interpreter does not have crispy-tailwind; try the next one.
    }
  }
  return globs;
}

/** @type {import('tailwindcss').Config} */
module.exports = {
  content: [
    "./templates/**/*.html",
    "./portal/**/*.{py,html}",
    "./subscriptions/**/*.{py,html}",
    "./wallets/**/*.{py,html}",
    ...crispyTailwindSources(),
  ],
  theme: {
    extend: {
      colors: {
        // One accent colour for the whole product; change it here.
        brand: colors.indigo,
        gray: colors.slate,
      },
      fontFamily: {
        sans: ["Inter", "InterVariable", ...defaultTheme.fontFamily.sans],
      },
    },
  },
  plugins: [require("@tailwindcss/forms")],
};
