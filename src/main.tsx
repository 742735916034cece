import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { installPageHooks } from './store/page-hooks';
import { App } from './ui/App';
import './ui/styles.css';

installPageHooks(window);
const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
