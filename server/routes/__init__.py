"""Las rutas HTTP, un módulo por área (un blueprint cada uno); importan ayudantes de server/ y
nunca unas de otras."""
